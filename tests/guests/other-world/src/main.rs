//! A plain WASI command: a component, but not of the `prism:plugin` world.

fn main() {
    println!("I am not a Prism plugin");
}
