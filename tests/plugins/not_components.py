"""A plugin whose hooks return things that are not components of their kind."""

import harness
from harness.components import Ranker, Retriever


class Valid(Retriever):
    """The one valid retriever of this plugin."""

    name = "valid-retriever"


class Unnamed(Retriever):
    """A retriever that forgot its ``name``."""


class WrongKind(Ranker):
    """A ranker, returned by the retriever hook."""

    name = "wrong-kind"


class NotAComponent:
    name = "plain-class"


@harness.hookimpl
def harness_retrievers():
    return [Valid, Unnamed, WrongKind, NotAComponent, "bm25", Valid()]


@harness.hookimpl
def harness_rankers():
    return WrongKind  # a class, not a list of classes
