"""The textbook: what a notebook imports and a learner reads.

models (and deskew), mnist and data, augment, config and recipes, engine (the training loop; resume, checkpoint and
the speed levers beside it), metrics, inspection, plots, report (the run's record), results (a read-only view of
results/). The lab that produces and publishes results lives in utils/lab/; nothing here imports it.
"""
