"""The notebooks as the pipeline: papermill runs them in order with a quiet console
(:mod:`~recsys.pipeline.runner`, behind ``recsys pipeline``); the helpers every notebook
calls (:mod:`~recsys.pipeline.notebook`: setup, standing alone, display); the names both
share (:mod:`~recsys.pipeline.paths`)."""
