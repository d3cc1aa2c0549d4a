"""TFLite latency: the benchmark tool on a phone over adb, LiteRT on the host, and the paper's Table 4 / Figure 5."""
