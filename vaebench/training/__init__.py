"""Training and references: the layer above models and estimators that makes trained benchmark models.

`train` trains VAEs (ELBO or IWAE objective) and keeps checksummed checkpoints in a cache;
`presets` names ready-made configurations (``vaebench train PRESET``); `reference` writes large-K
reference log p(x) files for models too large for quadrature.
"""

from vaebench.training.presets import PRESETS, preset_config, pretrained
from vaebench.training.trainer import CheckpointError, TrainConfig, load_checkpoint, load_or_train, train

__all__ = ["CheckpointError", "PRESETS", "TrainConfig", "load_checkpoint", "load_or_train", "preset_config",
           "pretrained", "train"]
