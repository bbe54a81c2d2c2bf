"""Causal long convolutions y = h * u + bias ⊙ u, one strategy per module.

Every strategy has the signature conv(u (B, D, L), h (D, L), bias (D,)) -> y (B, D, L) and
registers `hyena-<strategy>` with `operators.hyena.register_longconv`.
"""
