# Every account-unique name of an env, derived in one place (no provider), so
# a static test can prove each stays within its AWS limit.
#
#   prefix = shadowops-<owner slug, <= 8>-<4 hex of sha256(owner)>-<env, <= 30>
#
# at most 10 + 8 + 1 + 4 + 1 + 30 = 54 characters, lowercase letters, digits
# and single hyphens, starting with a letter and ending with a letter or
# digit: a valid Redshift cluster identifier (<= 63), and short enough for the
# longest suffix (IAM role `-rs-pause`: 63 <= 64). The hash tells apart owners
# whose slugs agree ("alice@a.com" and "alice@b.com", or any non-Latin name).
locals {
  owner_slug_raw = trim(substr(replace(lower(var.owner), "/[^a-z0-9]+/", "-"), 0, 8), "-")
  owner_slug     = local.owner_slug_raw == "" ? "o" : local.owner_slug_raw
  owner_id       = "${local.owner_slug}-${substr(sha256(var.owner), 0, 4)}"
  prefix         = "shadowops-${local.owner_id}-${var.env_name}"

  # The in-cloud backstops fire this long after the reaper's deadline, never
  # at the same moment: the reaper's `destroy` (and `reap`) gets the whole
  # grace to delete a running cluster before the scheduled pause can make it
  # undeletable without a resume.
  backstop_at = timeadd(var.expires_at, var.backstop_grace)
}
