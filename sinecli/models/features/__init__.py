"""What every random-feature family shares (`rocket` today, and the families that join it):
the calibrated head (`head`, fitted exactly with leave-one-out; `streamed`, fitted from
chunks for large sets and torchrun) and the classifier that joins a family's transform to
that head, with its fit (`classifier`). A family brings its transform and its config."""
