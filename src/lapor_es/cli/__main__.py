"""`python -m lapor_es.cli ...` runs the `lapor-es` command."""

from lapor_es.cli import main

main()
