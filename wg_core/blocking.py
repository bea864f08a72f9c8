"""BlockingClient (being written)."""


class BlockingClient:
    pass
