"""nst: neural style transfer in JAX.

Public subpackages are imported lazily by the user (``import nst.losses``); importing
``nst`` itself has no side effects.
"""

__version__ = "0.1.0"
