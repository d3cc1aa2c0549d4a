"""The paper's figures that need no training: Figure 1 and Appendix A (`manifold`), Figure 7 (`activations`);
`report.write` draws them for `mnv2-figures`."""
