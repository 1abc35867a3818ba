"""``python -m clientela.cli``: the same as the ``clientela`` command."""

from clientela.cli import main

main()
