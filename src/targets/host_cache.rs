//! The local target's software-layer cache (issue 17): a host image with the
//! software installed, named by the software stamp, made without a manual
//! step.
//!
//! The first `up --image auto` (the default) with a stamp that has no image
//! configures from the base image as always, and once it has succeeded
//! starts a detached `bake --auto` that makes the image for that stamp;
//! every later `up` with the same stamp starts from it and configure only
//! converges. The image is made by `bake` from a throwaway env of its own,
//! never by committing the user's host: a commit of a live host would carry
//! that env's secrets and its metadata DB (DAG runs, XComs with warehouse
//! data) in an image layer, and a layer cannot be scrubbed once written.
//!
//! A cached image is used only for the exact stamp in its tag; an env keeps
//! the image it was created from (a cache that appears later does not
//! replace a running host).

use crate::cli::ImageChoice;
use crate::paths;
use crate::supervise;
use crate::targets::baked::recipe_stamp;
use crate::targets::local;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository of baked and cached host images; the tag is the stamp.
pub const REPO: &str = "localhost/shadowops-host-baked";
/// Label on every image `bake` commits: `prune-images` finds the untagged
/// ones (a re-bake of the same stamp) by it.
pub const LABEL: &str = "shadowops.image=host-cache";

pub fn tag(stamp: &str) -> String {
    format!("{REPO}:{stamp}")
}

pub fn image_exists(assets: &Path, image: &str) -> Result<bool> {
    let out = supervise::run(
        &local::podman(assets)
            .args(["image", "exists", image])
            .capture(),
        |_, _| {},
    )?;
    Ok(out.success())
}

/// Where the host image of an env comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostImage {
    /// The base image; `build_cache`: no cache exists for this stamp, so
    /// one is made after this `up` succeeds.
    Base { image: String, build_cache: bool },
    /// The cached (or baked) image of the current stamp.
    Cached(String),
    /// The image this env's host was created from, kept (a host is never
    /// replaced because a cache appeared since).
    Kept(String),
}

impl HostImage {
    pub fn image(&self) -> &str {
        match self {
            HostImage::Base { image, .. } | HostImage::Cached(image) | HostImage::Kept(image) => {
                image
            }
        }
    }
}

/// `--image auto`: the env's own image when it still has a host made from
/// the current base or the current stamp's cache, else the cache of the
/// current stamp, else the base image (and a cache is wanted).
pub fn choose_auto(
    existing_host: Option<&str>,
    base: &str,
    stamp_tag: &str,
    cache_exists: bool,
) -> HostImage {
    match existing_host {
        Some(h) if h == base || h == stamp_tag => HostImage::Kept(h.to_string()),
        _ if cache_exists => HostImage::Cached(stamp_tag.to_string()),
        _ => HostImage::Base {
            image: base.to_string(),
            build_cache: true,
        },
    }
}

/// The host image for `up`, per `--image`.
pub fn resolve(
    choice: ImageChoice,
    assets: &Path,
    images: &local::Images,
    existing_host: Option<&str>,
) -> Result<HostImage> {
    Ok(match choice {
        ImageChoice::Base => HostImage::Base {
            image: images.host.clone(),
            build_cache: false,
        },
        ImageChoice::Baked => HostImage::Cached(local::baked_image()?),
        ImageChoice::Auto => {
            let t = tag(&recipe_stamp(assets));
            let exists = image_exists(assets, &t)?;
            choose_auto(existing_host, &images.host, &t, exists)
        }
    })
}

/// The log of the background bakes (machine-wide, like the images).
pub fn log_file() -> PathBuf {
    paths::cache().join("host-cache.log")
}

/// Held by a bake for its whole run, machine-wide: one bake at a time (they
/// share the env name `bake` and the podman image store).
pub fn lock_file() -> PathBuf {
    paths::cache().join("bake.lock")
}

/// Start `shadowops bake --auto` detached (its own session, output appended
/// to `log_file()`): it makes the image for the current stamp unless it
/// exists or another bake runs. Returns its pid.
pub fn spawn_build() -> Result<u32> {
    std::fs::create_dir_all(paths::cache())?;
    let exe = std::env::current_exe().context("locating the shadowops binary")?;
    let mut cmd = Command::new(exe);
    cmd.args(["bake", "--auto"]).env_remove("SHADOWOPS_ENV");
    supervise::spawn_detached(cmd, &log_file()).context("starting the background bake")
}

/// A host image `bake` made (tagged or left untagged by a re-bake).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Baked {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Names", default)]
    pub names: Option<Vec<String>>,
    #[serde(rename = "Created", default)]
    pub created: i64,
    #[serde(rename = "Containers", default)]
    pub containers: u32,
}

impl Baked {
    pub fn tag(&self) -> Option<&str> {
        self.names
            .as_ref()?
            .iter()
            .find(|n| n.starts_with(REPO))
            .map(String::as_str)
    }
}

/// Every image `bake` committed: they carry the bake host container's
/// labels (`shadowops.env=bake`, `shadowops.role=host`).
pub fn baked_images(assets: &Path) -> Result<Vec<Baked>> {
    let out = supervise::run_ok(
        &local::podman(assets)
            .args([
                "images",
                "--all",
                "--format",
                "json",
                "--filter",
                "label=shadowops.env=bake",
                "--filter",
                "label=shadowops.role=host",
            ])
            .capture(),
        |_, _| {},
    )?;
    let text = out.stdout.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(text).context("reading `podman images --format json`")
}

/// What `prune-images --keep N` removes: untagged bakes, and tagged ones
/// beyond the newest `keep`; never the current stamp's, nor one a
/// container uses.
pub fn to_prune(images: &[Baked], keep: usize, current: &str) -> Vec<Baked> {
    let mut tagged: Vec<&Baked> = images.iter().filter(|i| i.tag().is_some()).collect();
    tagged.sort_by_key(|i| std::cmp::Reverse(i.created));
    let kept: Vec<&str> = tagged.iter().take(keep).map(|i| i.id.as_str()).collect();
    images
        .iter()
        .filter(|i| i.containers == 0)
        .filter(|i| i.tag() != Some(current))
        .filter(|i| i.tag().is_none() || !kept.contains(&i.id.as_str()))
        .cloned()
        .collect()
}

/// `prune-images` (local): bakes beyond `keep` and untagged ones.
pub fn prune(assets: &Path, keep: usize, dry_run: bool) -> Result<usize> {
    let current = tag(&recipe_stamp(assets));
    let images = baked_images(assets)?;
    let going = to_prune(&images, keep, &current);
    for i in &images {
        let name = i.tag().unwrap_or("<untagged>");
        let fate = if going.contains(i) {
            if dry_run {
                "would go"
            } else {
                "goes"
            }
        } else if i.containers > 0 {
            "kept (in use)"
        } else if i.tag() == Some(current.as_str()) {
            "kept (this playbook's software cache)"
        } else {
            "kept"
        };
        println!("{:.12}  {name}  {fate}", i.id);
    }
    if dry_run {
        return Ok(0);
    }
    let mut removed = 0;
    for i in &going {
        let rmi = local::podman(assets).args(["rmi", &i.id]).capture();
        match supervise::run_ok(&rmi, |_, _| {}) {
            Ok(_) => removed += 1,
            Err(e) => crate::ui::warn(&format!("kept {:.12}: {e:#}", i.id)),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "localhost/shadowops-host:aaaa";
    const NOW: &str = "localhost/shadowops-host-baked:new";

    #[test]
    fn a_new_env_uses_the_cache_of_its_stamp_or_builds_one() {
        assert_eq!(
            choose_auto(None, BASE, NOW, true),
            HostImage::Cached(NOW.into())
        );
        assert_eq!(
            choose_auto(None, BASE, NOW, false),
            HostImage::Base {
                image: BASE.into(),
                build_cache: true
            }
        );
    }

    #[test]
    fn an_existing_host_keeps_its_image_when_it_is_still_current() {
        // Created from base before the cache existed: not replaced by it.
        assert_eq!(
            choose_auto(Some(BASE), BASE, NOW, true),
            HostImage::Kept(BASE.into())
        );
        assert_eq!(
            choose_auto(Some(NOW), BASE, NOW, true),
            HostImage::Kept(NOW.into())
        );
    }

    #[test]
    fn a_stale_cache_is_never_used_for_another_stamp() {
        // The host was made from the cache of an older stamp: the new stamp's
        // cache (or base) replaces it; the old image is never chosen.
        let old = "localhost/shadowops-host-baked:old";
        assert_eq!(
            choose_auto(Some(old), BASE, NOW, true),
            HostImage::Cached(NOW.into())
        );
        assert_eq!(
            choose_auto(Some(old), BASE, NOW, false),
            HostImage::Base {
                image: BASE.into(),
                build_cache: true
            }
        );
    }

    fn img(id: &str, tag: Option<&str>, created: i64, containers: u32) -> Baked {
        Baked {
            id: id.into(),
            names: tag.map(|t| vec![format!("{REPO}:{t}")]),
            created,
            containers,
        }
    }

    #[test]
    fn pruning_keeps_the_newest_stamps_the_current_one_and_those_in_use() {
        let imgs = vec![
            img("a", Some("s1"), 1, 0),
            img("b", Some("s2"), 2, 0),
            img("c", Some("s3"), 3, 0),
            img("d", None, 4, 0),       // a re-bake left it untagged
            img("e", None, 5, 1),       // untagged, but a live host uses it
            img("f", Some("s0"), 0, 1), // old, in use
        ];
        let ids = |v: Vec<Baked>| v.into_iter().map(|i| i.id).collect::<Vec<_>>();
        // keep 1: s3 (newest) and s1 (current) stay.
        assert_eq!(ids(to_prune(&imgs, 1, &tag("s1"))), vec!["b", "d"]);
        // keep 0: only the current stamp's and the ones in use stay.
        assert_eq!(ids(to_prune(&imgs, 0, &tag("s3"))), vec!["a", "b", "d"]);
        assert_eq!(ids(to_prune(&imgs, 5, &tag("s3"))), vec!["d"]);
    }
}
