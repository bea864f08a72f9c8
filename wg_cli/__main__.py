"""``python -m wg_cli``: for machines where another ``wg`` (WireGuard) comes first on PATH."""

from wg_cli.main import main

main()
