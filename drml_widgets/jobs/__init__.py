"""Jobs that train the bundled models; nothing in the library imports them, the command line runs them."""
