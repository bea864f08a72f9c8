"""The ``wg`` commands, one module per noun; importing a module registers its commands."""
