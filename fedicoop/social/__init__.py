"""Social features: notes, follows, likes, boosts, the co-op Group's announces."""
