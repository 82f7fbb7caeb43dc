"""``python -m bayesmoe.cli``: the same as the ``bayesmoe`` command."""

from bayesmoe.cli import main

main()
