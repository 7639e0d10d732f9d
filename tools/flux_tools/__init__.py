"""Reference programs that close the ReasonFlux-V2 loop: mine the next round\x27s DPO pairs, evaluate a round."""
