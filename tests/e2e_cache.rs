//! The local software-layer cache (issue 17): the first `up` of a software
//! stamp configures from the base image and then makes the cache in the
//! background; a later `up` starts from it; an env keeps the image its host
//! was made from.

mod common;
use common::*;
use std::path::Path;
use std::time::Duration;

fn host_id(env: &str) -> String {
    podman(&[
        "inspect",
        "--format",
        "{{.Id}}",
        &format!("shadowops-{env}-host"),
    ])
    .trim()
    .to_string()
}

const R_INSTALL: &str = "Start installing R and Java in the background";
/// The pipeline role's R check, and the read-back of its record that
/// replaces it when the host's software and pipeline stamps match.
const R_CHECK: &str = "pipeline : Find the R packages the pipeline needs that R cannot load";
const R_RECORD_READ: &str =
    "pipeline : Read the record of the run that installed the pipeline's R packages";

/// Assets of this test's own: the repository, with a copy of `ansible/`
/// holding one more file, so that the software stamp is new and no other
/// `up` on this machine (a developer's env, another test) uses its cache.
fn assets_with_own_stamp(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::symlink;
    let assets = dir.join("assets");
    std::fs::create_dir_all(&assets).unwrap();
    for d in [
        "terraform",
        "images",
        "constraints",
        "templates",
        "pipeline",
        "podman",
    ] {
        symlink(repo().join(d), assets.join(d)).unwrap();
    }
    copy_tree(&repo().join("ansible"), &assets.join("ansible"));
    let nonce = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    std::fs::write(assets.join("ansible/e2e-cache-stamp.txt"), nonce).unwrap();
    assets
}

/// The host image `prune-images` calls this sandbox's software cache.
fn current_cache(sb: &Sandbox) -> Option<(String, String)> {
    let listing = sb.run(&["prune-images", "--dry-run"]);
    let line = listing
        .stdout
        .lines()
        .find(|l| l.ends_with("kept (this playbook's software cache)"))?
        .to_string();
    let mut f = line.split_whitespace();
    Some((f.next()?.to_string(), f.next()?.to_string()))
}

/// Removes this test's cache image at the end, also when the test fails
/// (1.8 GB a run otherwise).
struct RemoveCache<'a>(&'a Sandbox);

impl Drop for RemoveCache<'_> {
    fn drop(&mut self) {
        if let Some((id, _)) = current_cache(self.0) {
            podman(&["rmi", &id]);
        }
    }
}

#[test]
#[ignore = "end to end on podman with a background bake (minutes); run by `make test`"]
fn e2e_the_first_up_makes_the_software_cache_and_the_next_starts_from_it() {
    let mut sb = Sandbox::real();
    sb.assets = assets_with_own_stamp(sb.dir.path());
    sb.set("SHADOWOPS_IMAGE", "auto");
    let _image = RemoveCache(&sb);
    let _cleanup = sb.cleanup(vec!["cache1", "cache2"]);
    assert!(
        current_cache(&sb).is_none(),
        "a new stamp has a cache already"
    );

    // 1. No cache: configured from the base image, cache made afterwards.
    let r = sb.run(&["up", "--env", "cache1", "--ttl", "40m"]);
    r.expect(0);
    assert!(r.stdout.contains("e-mail: received"), "{}", r.stdout);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("host image: base (no software cache"), "{all}");
    assert!(
        all.contains("making it in the background (pid "),
        "no background bake announced:\n{all}"
    );
    let first = play_statuses(&sb.latest_run("cache1"));
    assert_eq!(
        first.get(R_INSTALL).map(String::as_str),
        Some("ok"),
        "{first:?}"
    );
    let cache1_host = host_id("cache1");

    // The bake runs detached (after any other bake of this machine): wait
    // for the image.
    let mut cached = None;
    assert!(
        wait_for(Duration::from_secs(1200), || {
            cached = current_cache(&sb).map(|(_, tag)| tag);
            if cached.is_none() {
                std::thread::sleep(Duration::from_secs(3));
            }
            cached.is_some()
        }),
        "no software cache 20 min after the first up; see ~/.cache/shadowops/host-cache.log"
    );
    let cached = cached.unwrap();
    // Its env goes right after the commit.
    assert!(
        wait_for(Duration::from_secs(120), || podman(&[
            "ps",
            "-a",
            "-q",
            "--filter",
            "label=shadowops.env=bake"
        ])
        .trim()
        .is_empty()),
        "the bake env's containers were left behind"
    );

    // 2. A re-`up` of the env keeps the host it has (not replaced by the cache).
    sb.run(&["up", "--env", "cache1", "--ttl", "40m"]).expect(0);
    assert_eq!(host_id("cache1"), cache1_host, "re-up replaced the host");

    // 3. A new env starts from the cache: no installs, same e-mail.
    let r = sb.run(&["up", "--env", "cache2", "--ttl", "40m"]);
    r.expect(0);
    assert!(r.stdout.contains("e-mail: received"), "{}", r.stdout);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(
        all.contains(&format!("host image: {cached} (software cache")),
        "{all}"
    );
    assert!(!all.contains("making it in the background"), "{all}");
    let second = play_statuses(&sb.latest_run("cache2"));
    assert_eq!(
        second.get(R_INSTALL).map(String::as_str),
        Some("skipped"),
        "{second:?}"
    );
    // Software and pipeline stamps both match: the pipeline's R packages
    // are read back from the bake's record instead of R being asked again.
    for (task, first_status, second_status) in
        [(R_CHECK, "ok", "skipped"), (R_RECORD_READ, "skipped", "ok")]
    {
        assert_eq!(
            first.get(task).map(String::as_str),
            Some(first_status),
            "{task}: {first:?}"
        );
        assert_eq!(
            second.get(task).map(String::as_str),
            Some(second_status),
            "{task}: {second:?}"
        );
    }
    sb.run(&["destroy", "--env", "cache2"]).expect(0);
    sb.run(&["destroy", "--env", "cache1"]).expect(0);
}
