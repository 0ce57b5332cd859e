"""What a person sees while the work runs: progress lines (:mod:`~recsys.display.progress`),
a console without TensorFlow's native start-up lines (:mod:`~recsys.display.quiet`), and
every figure the notebooks show (:mod:`~recsys.display.plots`)."""
