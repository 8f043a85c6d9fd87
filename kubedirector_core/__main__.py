"""``python -m kubedirector_core`` runs the ``kubedirector`` command."""

from kubedirector_core.cli import main

main()
