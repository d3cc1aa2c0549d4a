"""The paper's experiments in miniature: Figure 5's grid, Figure 6's ablations and Sec. 4's expansion
rate, trained from scratch on the built-in `mnv2_parts` benchmark with several seeds (`mnv2-reproduce`).

- `studies`: what each figure varies (config overrides of the `parts` experiment) and the paper's claim;
- `runner`: trains every (variant, seed) run once (resuming a killed one), gathers mean +- std;
- `plots`: the figures redrawn from our runs.
The full-scale runs of the same switches on ImageNet are named experiments
(`classification/experiments.py`: `imagenet_relu6_bottleneck`, `imagenet_0.5_160`, ...).
"""
