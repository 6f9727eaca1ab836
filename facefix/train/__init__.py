"""Training: synthetic degradations, data, losses, and a Trainer that backend recipes plug into."""
