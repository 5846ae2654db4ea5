__version__ = "0.1.0"

__all__ = ['predict_phase']


def __getattr__(name):
    "Lazy top-level names: `import alloy_nb` stays instant, and `alloy_nb.predict_phase` loads its module on first use."
    if name == 'predict_phase':
        from alloy_nb.phase_forest import predict_phase
        return predict_phase
    raise AttributeError(f"module 'alloy_nb' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
