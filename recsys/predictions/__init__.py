"""Batch predictions: every user's top N into the database (:mod:`~recsys.predictions.batch`),
split across machines by id (:mod:`~recsys.predictions.sharding`), each recommendation
explained (:mod:`~recsys.predictions.explain`)."""
