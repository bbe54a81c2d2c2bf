"""Triton kernels of the fused Hyena layer (operators.hyena_fused) that are not long convolutions:
the depthwise short convolution of every projected channel with the first gate multiply."""
