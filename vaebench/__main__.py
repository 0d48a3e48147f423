"""``python -m vaebench`` runs the command-line interface."""

from vaebench.cli import main

raise SystemExit(main())
