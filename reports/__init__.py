"""What the results mean: tables, verdicts on the Hyena paper's speed claims, plots and the
markdown/HTML report built by `hyena-bench report`. Reads results directories only.
"""
