"""cdk-elasticache-user: Custom::ElastiCacheUser for AWS CDK apps, checked at synth with the
provider's own rules (see docs/template-authors.md, "AWS CDK")."""

from cdk_elasticache_user.provider import ElastiCacheUserProvider, ElastiCacheUserProviderBase
from cdk_elasticache_user.user import ElastiCacheUser
from cdk_elasticache_user.validation import ElastiCacheUserPropertyError

__all__ = [
    "ElastiCacheUser",
    "ElastiCacheUserPropertyError",
    "ElastiCacheUserProvider",
    "ElastiCacheUserProviderBase",
]
