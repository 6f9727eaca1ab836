"""Building blocks shared by the backends, each tested on its own."""
