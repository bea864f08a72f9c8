"""``wg``: the command line for wg queues, for people (tables) and scripts (JSON, ids).

Built on ``wg_core``'s public API only. Run ``wg --help`` (or ``python -m wg_cli``).
"""
