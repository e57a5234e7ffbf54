"""`python -m app.cli`: the same as the `hyperlaw` console script."""

from app.cli import main

main()
