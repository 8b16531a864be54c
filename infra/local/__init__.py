"""The local stack: API Gateway, Lambda workers, moto and the PayFiP emulator on this machine."""
