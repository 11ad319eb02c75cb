"""A plugin providing a dataset provider under a built-in's name (``beir``)."""

import harness
from harness.components import DatasetProvider


class OtherBeir(DatasetProvider):
    """Another ``beir`` provider."""

    name = "beir"


@harness.hookimpl
def harness_dataset_providers():
    return [OtherBeir]
