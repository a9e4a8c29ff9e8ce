"""Tools for the people who run the bot: edit flows and translations safely, see flows as graphs,
test them as conversations, reload them live, and read the figures.

Each module is library code raising specific exceptions; `bot/cli.py` turns them into output.
"""
