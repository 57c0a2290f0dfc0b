//! `prune-images --target aws` against moto: three baked AMIs of one owner,
//! one of another owner and an untagged one; the newest `keep` and the one
//! in use stay, the others are deregistered with their snapshots.

use super::super::images::{baked_amis, prune, to_prune};
use super::super::*;
use super::emulator::{emulator_env, lock, moto};

fn image(aws: &Aws, instance: &str, name: &str, owner: Option<&str>) -> String {
    let mut tags = vec!["{Key=Name,Value=x}".to_string()];
    if let Some(o) = owner {
        tags.push("{Key=shadowops:baked,Value=true}".into());
        tags.push(format!("{{Key=owner,Value={o}}}"));
    }
    let out = aws
        .call(
            "ec2",
            "create-image",
            &[
                "--instance-id".into(),
                instance.into(),
                "--name".into(),
                name.into(),
                "--tag-specifications".into(),
                format!("ResourceType=image,Tags=[{}]", tags.join(",")),
            ],
        )
        .unwrap();
    out["ImageId"].as_str().unwrap().to_string()
}

#[test]
#[ignore = "needs moto (scripts/setup-aws.sh --emulator); run by `make test`"]
fn old_bakes_go_with_their_snapshots_and_the_rest_stays() {
    let _l = lock();
    let m = moto();
    emulator_env(&m.url);
    let aws = Aws::from_env().unwrap();
    let run = aws
        .call_s(
            "ec2",
            "run-instances",
            &[
                "--image-id",
                "ami-12c6146b",
                "--instance-type",
                "t3.large",
                "--count",
                "1",
            ],
        )
        .unwrap();
    let inst = run["Instances"][0]["InstanceId"]
        .as_str()
        .unwrap()
        .to_string();
    let old = image(
        &aws,
        &inst,
        "shadowops-alice-bake-20261201T000000",
        Some("alice"),
    );
    let mid = image(
        &aws,
        &inst,
        "shadowops-alice-bake-20261202T000000",
        Some("alice"),
    );
    let new = image(
        &aws,
        &inst,
        "shadowops-alice-bake-20261203T000000",
        Some("alice"),
    );
    let bob = image(
        &aws,
        &inst,
        "shadowops-bob-bake-20261201T000000",
        Some("bob"),
    );
    let other = image(&aws, &inst, "not-ours", None);

    let amis = baked_amis(&aws, "alice").unwrap();
    let ids: Vec<&str> = amis.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids.len(), 3, "{amis:?}");
    assert!(!ids.contains(&bob.as_str()) && !ids.contains(&other.as_str()));
    // keep 1, but `old` is the one `up --image baked` uses: it stays too.
    let going = to_prune(&amis, 1, Some(&old));
    let going_ids: Vec<&str> = going.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(going_ids, [mid.as_str()]);
    let snaps = going[0].snapshots.clone();
    assert!(!snaps.is_empty(), "moto gives an AMI its snapshot");
    assert_eq!(prune(&aws, &going).unwrap(), vec![mid.clone()]);

    let left: Vec<String> = baked_amis(&aws, "alice")
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert!(
        left.contains(&new) && left.contains(&old) && !left.contains(&mid),
        "{left:?}"
    );
    assert_eq!(baked_amis(&aws, "bob").unwrap().len(), 1);
    for snap in snaps {
        let e = aws
            .call_s("ec2", "describe-snapshots", &["--snapshot-ids", &snap])
            .unwrap_err();
        assert!(format!("{e:#}").contains("NotFound"), "{e:#}");
    }
}
