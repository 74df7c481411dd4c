"""Z1 companion library: data construction, SFT, shifted-window inference, evaluation, figures.

Import the submodules you need, e.g. ``from z1 import config, thinking``.
"""

__version__ = "0.1.0"
