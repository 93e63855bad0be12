"""``releval-judge demo``: a whole judging run end to end on the bundled sample run."""
