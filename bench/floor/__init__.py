"""The floor server: the least a Python server can do per streamed token on this workload."""
