# Toil documentation example tutorial_helloworld.py (quick start), run on moil.
# Only the import lines differ from Toil's. Run: python tutorial_helloworld.py file:my-job-store
from runner import Job, Toil

def helloWorld(message, memory="1G", cores=1, disk="1G"):
    return "Hello, world!, here's a message: %s" % message

if __name__ == "__main__":
    parser = Job.Runner.getDefaultArgumentParser()
    options = parser.parse_args()
    options.clean = "always"
    with Toil(options) as toil:
        output = toil.start(Job.wrapFn(helloWorld, "You did it!"))
    print(output)
