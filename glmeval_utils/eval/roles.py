"""Which question each model answers: its role.

Only pretrained gLMs count as "a gLM" in the paper's claims.  A random-init
control answers "how much does the architecture give without pretraining?",
the aptamer-fine-tuned HyenaDNA backbone answers "what does task fine-tuning
of another task leave?", one-hot and composition models are the yardsticks,
and supervised representations (Sei, the eCLIP model) answer their own
claim.  Prediction tables carry a ``role`` column written when a model is
trained (:mod:`glmeval_utils.predictions`), named by the one rule
:func:`glmeval_utils.models.registry.role_of`.
"""

from __future__ import annotations

from glmeval_utils.models.registry import RANDOM_SUFFIX
from glmeval_utils.predictions import PRETRAINED

#: the roles whose wins count as "a gLM beats one-hot".
GLM_ROLES = (PRETRAINED,)


def is_glm(role: str) -> bool:
    """Whether a role counts as "a gLM" in the paper's claims (pretrained only)."""
    return role in GLM_ROLES


def control_of(model: str) -> str:
    """Registry name of a model's random-init control."""
    return f"{model}{RANDOM_SUFFIX}"
