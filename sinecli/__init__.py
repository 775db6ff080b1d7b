"""sinecli: train and judge recurrent-network classifiers of time series from the shell."""

__version__ = "0.1.0"
