"""fedicoop: the federated server platform co-operatives run."""

__version__ = "0.1.0"
