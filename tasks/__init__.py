"""SeqIO registrations of motiongpt-jax, imported by module name (as T5X's
MIXTURE_OR_TASK_MODULE): ``import tasks`` registers every ``motiongpt_*`` task and mixture.

Where the data lives comes from the environment, read when this package is imported:
  MOTIONGPT_DATA    HumanML3D-format folder (default ``data/synth``)
  MOTIONGPT_TOKENS  its tokens folder (default ``$MOTIONGPT_DATA/tokens``)
  MOTIONGPT_SPM     SentencePiece model (default ``$MOTIONGPT_DATA/spiece.model``)
``tasks.register(data, tokens, spm)`` registers everything again for other paths.
"""

from tasks import instructions, pretraining


def register(data_dir: str, tokens_dir: str, spm: str, drop_one_token: float = 0.0,
             core_rate: float = 4.0, task_rates: str = "") -> None:
  pretraining.register(data_dir, tokens_dir, spm)
  instructions.register(data_dir, tokens_dir, spm, drop_one_token, core_rate, task_rates)
