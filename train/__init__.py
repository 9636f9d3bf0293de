"""Training SegFormer teachers and students with Accelerate: `accelerate launch -m train CONFIG`."""
