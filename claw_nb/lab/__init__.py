"""The prompt lab: task suite, trials, statistics and optimizers."""
