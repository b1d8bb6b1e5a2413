//! Validating a config of 40,000 models, every one in the chain and in a
//! tier: duplicate and cross-reference checks are set lookups, so this is
//! linear (it took 4 s when they were list scans).

use std::hint::black_box;
use std::path::Path;

use chainwatch::config::Config;
use criterion::{criterion_group, criterion_main, Criterion};

fn many_models(n: usize) -> String {
    let names: Vec<String> = (0..n).map(|i| format!("\"m{i}\"")).collect();
    let mut text = format!(
        "endpoint = [{{ name = \"local\", base_url = \"http://127.0.0.1:8080/v1\" }}]\nchain = [{}]\n",
        names.join(",")
    );
    for i in 0..n {
        text.push_str(&format!(
            "[[model]]\nname = \"m{i}\"\nid = \"x/m{i}\"\ntier = \"budget\"\n"
        ));
    }
    text.push_str(&format!("[tiers]\nbudget = [{}]\n", names.join(",")));
    text
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("config");
    group.sample_size(10);
    for n in [10_000, 40_000] {
        let text = many_models(n);
        group.bench_function(format!("parse and validate {n} models"), |b| {
            b.iter(|| {
                let config = Config::parse(black_box(&text), Path::new("bench.toml"));
                assert!(config.is_ok());
                config
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
