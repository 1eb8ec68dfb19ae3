"""cdk-elasticache-user: Custom::ElastiCacheUser for AWS CDK apps, checked at synth with the
provider's own rules (see docs/template-authors.md, "AWS CDK")."""

from cdk_elasticache_user.consent import ALL_STACKS, CONSENT_TAG, members_from
from cdk_elasticache_user.provider import ElastiCacheUserProvider, ElastiCacheUserProviderBase
from cdk_elasticache_user.user import ElastiCacheUser
from cdk_elasticache_user.validation import ElastiCacheUserPropertyError

__all__ = [
    "ALL_STACKS",
    "CONSENT_TAG",
    "ElastiCacheUser",
    "ElastiCacheUserPropertyError",
    "ElastiCacheUserProvider",
    "ElastiCacheUserProviderBase",
    "members_from",
]
