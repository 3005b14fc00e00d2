"""The version of minikeras, on the lowest floor so that saved files can carry it."""

__version__ = "0.1.0"
