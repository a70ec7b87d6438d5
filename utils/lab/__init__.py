"""The lab: what produces and publishes the results the notebooks show.

The runner (series: papermill execution, seeds sweeps, publishing), many runs on Ray (scale), ablations and their
plans, searches on Ray Tune (candidates, tuning, ranking), the speed bench, the store's write side and the README
generation. It imports the textbook (utils/); the textbook never imports it. Its commands:

  python -m utils.lab.series     run the notebooks, or a recipe over seeds, and publish
  python -m utils.lab.ablation   one change at a time over seeds
  python -m utils.lab.search     candidates over seeds on the validation split
  python -m utils.lab.bench      speed, as ratios measured side by side
"""
